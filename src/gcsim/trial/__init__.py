"""Virtual trials: cohorts of virtual patients, paired arms, RECIST endpoints (docs/trials.md)."""
