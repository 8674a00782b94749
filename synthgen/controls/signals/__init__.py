"""The signals control jobs are made of, numpy only: sub-pixel drawing (``draw``), track overlays
(``tracks``), depth mapping (``depth``), camera-parameter videos (``camera``), reference resampling
(``resample``) and beat facts of audio bindings (``beats``). They take arrays and plain parameters; which job
uses which, with what settings, is said in the job modules."""
