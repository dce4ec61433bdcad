"""What a spec of each kind may say, how it is read and run, and what it is graded and
drawn with.

``catalog`` has one entry per kind (``entry.OpEntry``: its command's help, sections and
Field table, the only description of its keys); ``field`` is one key's description and
``fields`` the readers every kind shares (pairs, padding forms, choices, numbers,
tensors).  A kind's own module (``conv``, ``dense``, ``loss``, …) holds its
``read(spec, limits) -> Problem``, its ``run(problem, options) -> Run`` and
``finite_differences(problem, run)`` for core/solve.py, its ``usual_mistakes(spec)`` for
``gradcalc check`` (and, for a kind in parts, ``result_groups(spec, names)``: net's layers,
each scored on its own) and its ``PRACTICE`` profile for ``gradcalc random``; a large kind
splits what it needs into ``KIND_*.py`` beside it, and names the module that holds its
mistakes or profile in its entry's ``parts`` (core/registry.py kind_part imports it for
those commands alone).  ``mistakes`` and ``profile`` hold the pieces every kind's mistakes
and profiles are made of.
"""
