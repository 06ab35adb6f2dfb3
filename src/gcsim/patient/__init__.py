"""Patient mode: whole lesions of 10⁸–10⁹ cells carried by compartment models whose rates come
from lattice windows (full ``GastricTumorModel`` runs), and one lymph node shared by all lesions.

See docs/patient-scale.md and docs/decisions/0021-patient-scale-bridge.md. The parameter rows
are ``gcsim.params.PATIENT_PARAMETERS``.
"""

# gcsim.scenario.schema builds on gcsim.patient.schema, which builds on gcsim.scenario.sections:
# loading the scenario package first keeps every import order working.
import gcsim.scenario  # noqa: F401
