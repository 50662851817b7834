"""Answer quality against ground truth: a simulated enterprise (``world``) written out as real sources
(``sources``, ``people``), asked through a real server (``run``) and scored per stratum (``metrics``)."""
