"""What a spec of each kind may say, and how its fields are read.

``field`` is one key's description (the registry's Field tables are made of them),
``fields`` the readers every kind shares (pairs, padding forms, choices, numbers,
tensors), and a kind's own module (``dense``, ``loss``) its ``read(spec, limits) ->
Problem``.
"""
