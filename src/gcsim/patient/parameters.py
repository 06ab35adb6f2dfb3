"""Rows of the parameter table for patient mode (gcsim.patient): the lattice-to-lesion bridge.

Read only when a scenario has a ``patient:`` section; a single-section run never uses them.
"""

from __future__ import annotations

from gcsim.parameter import Param

PATIENT_PARAMETERS: tuple[Param, ...] = (
    Param(
        "patient.cell_density",
        2.0e8,
        "cells/mL",
        "tumour cells per mL of lesion volume: converts a lesion's cells into its volume and "
        "equivalent-sphere diameter",
        "spQSP-IO's tumour cell density (reference/patient-scale.md, V); 10⁸–10⁹ cells/mL in "
        "the literature (M)",
        lo=1e6,
        hi=1e10,
    ),
    Param(
        "patient.node_antigen_scale",
        1.0e-5,
        "1",
        "fraction of a lesion's released antigen (kill units) that the patient's lymph node "
        "sees, in the units priming.half_max is calibrated on (a section of ≈10⁴ cells): "
        "10⁻⁵ makes a 10⁹-cell lesion drive the node as one section does",
        "Assumption (range 10⁻⁷–10⁻³): priming.half_max was calibrated on sections, not on "
        "patients; check results against it",
        lo=0.0,
        hi=1.0,
    ),
    Param(
        "patient.min_lesion_cells",
        100.0,
        "cells",
        "a lesion with fewer viable tumour cells no longer steps its windows, and an emptied "
        "window is re-seeded only while its lesion holds at least this many",
        "spQSP-IO steps its window only while the tumour holds > 100 cells "
        "(reference/patient-scale.md, V)",
        lo=1.0,
        hi=1e6,
    ),
    Param(
        "patient.stochastic_below",
        1.0e4,
        "cells",
        "below this many cells a lesion's births and deaths are drawn (Poisson, binomial) "
        "instead of taken at their expected value, so small lesions can go extinct",
        "Numerical choice (10³–10⁵): relative noise √n/n is < 1 % above 10⁴ cells",
        lo=0.0,
        hi=1e8,
    ),
    Param(
        "patient.seeding_rate",
        0.0,
        "1/(cell·day)",
        "occult micrometastases started per viable tumour cell per day (the shed cells that "
        "found a lesion); 0 = no new lesions",
        "Assumption (0–10⁻⁹): ≈10⁶ cells/g shed per day (Butler & Gullino 1975, M) of which "
        "a tiny fraction (≪ 0.01 %) founds a metastasis (Fidler 1970, M); off by default",
        lo=0.0,
        hi=1e-6,
    ),
    Param(
        "patient.new_lesion_cells",
        100.0,
        "cells",
        "tumour cells of a new (occult) lesion when it is seeded",
        "Assumption (1–10⁴): a micrometastasis that survived seeding",
        lo=1.0,
        hi=1e6,
    ),
)
