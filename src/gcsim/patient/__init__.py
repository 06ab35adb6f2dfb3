"""Patient mode: whole lesions of 10⁸–10⁹ cells carried by compartment models whose rates come
from lattice windows (full ``GastricTumorModel`` runs), and one lymph node shared by all lesions.

See docs/patient-scale.md and docs/decisions/0021-patient-scale-bridge.md.
"""
