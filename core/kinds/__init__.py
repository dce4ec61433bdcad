"""What a spec of each kind may say, and how its fields are read.

``fields`` holds the readers every kind shares (pairs, padding forms, choices, numbers,
tensors); a kind's own module (``dense``) holds its Field table and ``read(spec)``.
"""
