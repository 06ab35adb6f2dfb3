"""Observers: what a pathologist or a trial would measure, computed on the lattice."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from gcsim.cells import CPS_SCORED, LESION_SITES, LYMPHOCYTES, MYELOID
from gcsim.effects import RECORDED
from gcsim.kernels.common import lattice_flow
from gcsim.markers import MARKER_METRICS, marker_fractions
from gcsim.state import CD8, MACROPHAGE, MDSC, NECROTIC, TREG, TUMOR, VESSEL
from gcsim.therapies import registry, therapy_counters, therapy_derived_metrics

if TYPE_CHECKING:
    from gcsim.interface import ModelView

EXPOSURE_METRICS = tuple(f"exposure_{kind}" for kind in registry())
_THERAPY_COUNTERS = therapy_counters()
THERAPY_COUNTER_METRICS = tuple(f"cum_{name}" for name in _THERAPY_COUNTERS)
_DERIVED = therapy_derived_metrics()
HF_PO2 = 2.5  # mmHg: HF2.5, the polarographic-probe convention for the hypoxic fraction
EDGE_SITES = 2  # a tumour cell this close to the domain edge means growth is no longer visible


def lesion_mask(tissue: np.ndarray) -> np.ndarray:
    """The lesion: tumour and necrotic sites, closed over gaps of a few sites (killed cells, the
    vessels inside) and with holes filled."""
    lesion = LESION_SITES.take(tissue)  # registry flag "lesion"; take: 3x faster than [tissue]
    return ndimage.binary_fill_holes(ndimage.binary_closing(lesion, iterations=2))


def tumour_regions(
    lesion: np.ndarray, site_um: float, margin_half_width_um: float
) -> tuple[np.ndarray, np.ndarray]:
    """Core and invasive-margin masks of a ``lesion`` mask (see ``lesion_mask``).

    The margin is the band of ± ``margin_half_width_um`` around the lesion's boundary; the core
    is the lesion deeper than that.
    """
    if not lesion.any():
        empty = np.zeros_like(lesion)
        return empty, empty
    depth = ndimage.distance_transform_edt(lesion) * site_um
    distance = ndimage.distance_transform_edt(~lesion) * site_um
    core = lesion & (depth > margin_half_width_um)
    margin = (lesion & (depth <= margin_half_width_um)) | (
        ~lesion & (distance <= margin_half_width_um)
    )
    return core, margin


def touches_domain_edge(mask: np.ndarray, sites: int = EDGE_SITES) -> bool:
    """Whether any site of ``mask`` lies within ``sites`` of the lattice's edge (a tumour there
    grows out of view)."""
    e = sites
    return bool(mask[:e].any() or mask[-e:].any() or mask[:, :e].any() or mask[:, -e:].any())


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def measure(model: ModelView) -> dict[str, float]:
    """All metrics of the model's current state (see docs for definitions)."""
    s = model.state
    p = model.params
    site_mm2 = (model.site_um / 1000.0) ** 2
    tumour = s.tissue == TUMOR
    n_tumor = int(tumour.sum())
    n_necrotic = int((s.tissue == NECROTIC).sum())
    vessels = s.tissue == VESSEL
    n_vessel = int(vessels.sum())
    cd8 = s.immune == CD8
    macrophage = s.immune == MACROPHAGE
    m1 = int((macrophage & (s.polarisation >= 0.5)).sum())
    n_mac = int(macrophage.sum())
    n_cd8 = int(cd8.sum())
    n_treg = int((s.immune == TREG).sum())
    lesion = lesion_mask(s.tissue)
    core, margin = tumour_regions(lesion, model.site_um, p["observe.margin_half_width"])
    lesion_mm2 = float(lesion.sum()) * site_mm2
    vegf_signal = s.vegf * (1.0 - model.effects.vegf_block)
    flow = lattice_flow(s, p, vegf_signal)
    perfused = int(np.count_nonzero(flow))
    lesion_flow = float(flow[lesion].sum())
    hypoxic = int((tumour & (s.oxygen < p["tumor.hypoxic_po2"])).sum())
    hf25 = int((tumour & (s.oxygen <= HF_PO2)).sum())
    region = core | margin
    region_mm2 = float(region.sum()) * site_mm2
    treg = s.immune == TREG
    n_treg_core = int((treg & core).sum())

    threshold = p["pdl1.positive_threshold"]
    tumour_pos = int((tumour & (s.pdl1 > threshold)).sum())
    pdl1_of_immune = immune_pdl1(model)
    # CPS counts immune cells within the tumour area and its adjacent stroma only, and of those
    # only the types it scores (lymphocytes and macrophages: the registry's "cps_scored" flag).
    scored = region & (pdl1_of_immune > threshold)
    immune_pos = int((CPS_SCORED.take(s.immune) & scored).sum())
    myeloid_pos = int((MYELOID.take(s.immune) & scored).sum())
    cps = min(100.0, 100.0 * _ratio(tumour_pos + immune_pos, n_tumor)) if n_tumor else 0.0

    touches_edge = touches_domain_edge(tumour)
    c = model.counters
    return {
        "time_h": model.time_h,
        "tumor_cells": n_tumor,
        "viable_tumor_mm2": n_tumor * site_mm2,
        "necrotic_sites": n_necrotic,
        "necrotic_fraction": _ratio(n_necrotic, n_tumor + n_necrotic),
        "hypoxic_fraction": _ratio(hypoxic, n_tumor),
        "hf25_fraction": _ratio(hf25, n_tumor),
        "mean_tumor_po2_mmHg": float(s.oxygen[tumour].mean()) if n_tumor else float("nan"),
        # immunoediting made visible: T cells select the cells of low antigenicity
        "mean_tumor_antigenicity": float(s.antigen[tumour].mean()) if n_tumor else float("nan"),
        "vessel_sites": n_vessel,
        "perfused_vessel_fraction": _ratio(perfused, n_vessel),
        "lesion_mm2": lesion_mm2,
        "tumor_perfusion_per_mm2": _ratio(lesion_flow, lesion_mm2),
        "tumor_vessels_per_mm2": _ratio(int((lesion & vessels).sum()), lesion_mm2),
        "tumor_vessel_maturity": float(s.maturity[lesion & vessels].mean())
        if (lesion & vessels).any()
        else float("nan"),
        "cd8_cells": n_cd8,
        "cd8_exhausted": int((cd8 & (s.exhaustion >= 1.0)).sum()),
        "treg_cells": n_treg,
        "mdsc_cells": int((s.immune == MDSC).sum()),
        "macrophages": n_mac,
        "m1_macrophages": m1,
        "m2_macrophages": n_mac - m1,
        "cd8_core_per_mm2": _ratio(int((cd8 & core).sum()), core.sum() * site_mm2),
        "cd8_margin_per_mm2": _ratio(int((cd8 & margin).sum()), margin.sum() * site_mm2),
        "cd8_treg_ratio": _ratio(n_cd8, n_treg),
        "treg_core_per_mm2": _ratio(n_treg_core, core.sum() * site_mm2),
        "cd8_treg_core_ratio": _ratio(int((cd8 & core).sum()), n_treg_core),
        "mdsc_lesion_per_mm2": _ratio(int(((s.immune == MDSC) & region).sum()), region_mm2),
        "macrophages_lesion_per_mm2": _ratio(int((macrophage & region).sum()), region_mm2),
        "m1_m2_ratio": _ratio(m1, n_mac - m1),
        "cps": cps,
        "pdl1_positive_tumor": tumour_pos,
        "pdl1_positive_myeloid": myeloid_pos,
        "priming": model.priming_level,
        "cum_engagements": c["engagements"],
        "cum_kills": c["kills"],
        "cum_cd8_divisions": c["cd8_divisions"],
        "cum_cd8_recruited": c["cd8_recruited"],
        "cum_necrotic_deaths": c["necrotic_deaths"],
        "tumor_touches_edge": int(touches_edge),
        "cum_mitotic_deaths": c["mitotic_deaths"],
        "cum_antigen_released": model.antigen_released,
        # selection made visible: a targeted drug's marker-negative cells take over
        **marker_fractions(s.marker, tumour),
        **{name: getattr(model.effects, name) for name in RECORDED},
        **{f"cum_{name}": c[name] for name in _THERAPY_COUNTERS},
        **{name: function(c) for name, function in _DERIVED.items()},
        **exposures(model),
    }


def immune_pdl1(model: ModelView) -> np.ndarray:
    """PD-L1 expression of each site's immune cell (0 where none), induced by IFN-γ with the
    tumour's rule (``pdl1.induction_half_max``, ``pdl1.induction_hill``): lymphocytes up to
    ``lymphocyte.pdl1_induction``, myeloid cells at least ``pdl1.myeloid_basal``."""
    s, p = model.state, model.params
    k, n = p["pdl1.induction_half_max"], p["pdl1.induction_hill"]
    induced = s.ifng**n / (k**n + s.ifng**n)
    out = np.zeros(s.immune.shape)
    lymphocyte = LYMPHOCYTES.take(s.immune)
    out[lymphocyte] = p["lymphocyte.pdl1_induction"] * induced[lymphocyte]
    myeloid = MYELOID.take(s.immune)
    out[myeloid] = np.maximum(p["pdl1.myeloid_basal"], induced[myeloid])
    return out


def exposures(model: ModelView) -> dict[str, float]:
    """Summed exposure per therapy type (occupancy-like C/EC50 for drugs, cumulative Gy for
    radiotherapy; see each therapy's ``exposure``), 0 for types not in this arm."""
    out = dict.fromkeys(EXPOSURE_METRICS, 0.0)
    for therapy in model.therapies:
        out[f"exposure_{therapy.config.kind}"] += therapy.exposure(model.time_h)
    return out


METRICS = (
    tuple(
        "time_h tumor_cells viable_tumor_mm2 necrotic_sites necrotic_fraction hypoxic_fraction "
        "hf25_fraction "
        "mean_tumor_po2_mmHg mean_tumor_antigenicity vessel_sites perfused_vessel_fraction "
        "lesion_mm2 "
        "tumor_perfusion_per_mm2 tumor_vessels_per_mm2 tumor_vessel_maturity cd8_cells "
        "cd8_exhausted "
        "treg_cells mdsc_cells macrophages m1_macrophages m2_macrophages cd8_core_per_mm2 "
        "cd8_margin_per_mm2 cd8_treg_ratio treg_core_per_mm2 cd8_treg_core_ratio "
        "mdsc_lesion_per_mm2 macrophages_lesion_per_mm2 m1_m2_ratio cps pdl1_positive_tumor "
        "pdl1_positive_myeloid priming cum_engagements cum_kills "
        "cum_cd8_divisions cum_cd8_recruited cum_necrotic_deaths tumor_touches_edge "
        "cum_mitotic_deaths cum_antigen_released".split()
    )
    + MARKER_METRICS
    + RECORDED
    + THERAPY_COUNTER_METRICS
    + tuple(_DERIVED)
    + EXPOSURE_METRICS
)
