"""The virtual patient's body regions as data: one module per region, each a `SCENES` table.

A region module holds its scenes' structures (a builder taking the pathology variant), named views,
suggested depth and variants; nothing in it renders. `drivers/sim/scenes.py` gathers the tables.

Coordinates are patient millimetres on the unrolled skin of the limb: s along the limb (proximal to
distal), t across it (0 = the scene's main aspect, e.g. anterior), d below the skin. Sizes follow
reference/clinical.md §3.2 where it gives them (skin 1-2 mm, patellar tendon 5 mm, Achilles 5-6 mm,
cartilage 2-3 mm, femoral cortex 2-4 cm deep suprapatellar, popliteal vessels 2-4 cm deep); the rest
are typical adult values [engineering approximation].
"""
