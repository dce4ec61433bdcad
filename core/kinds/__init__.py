"""What a spec of each kind may say, and how its fields are read.

``field`` is one key's description (the registry's Field tables are made of them),
``fields`` the readers every kind shares (pairs, padding forms, choices, numbers,
tensors), and a kind's own module (``conv``, ``dense``, ``loss``, …) what a spec of that
kind may say: its ``read(spec, limits) -> Problem`` where it has one, its
``usual_mistakes(spec)`` for ``gradcalc check`` and its ``PRACTICE`` profile for
``gradcalc random`` (core/registry.py ``kind_module`` imports it when first needed).
``mistakes`` and ``profile`` hold the pieces those are made of, shared by every kind.
"""
