"""The signals control jobs are made of, numpy (and OpenCV for edges): sub-pixel drawing (``draw``), track
overlays (``tracks``), the official sparse-track format (``sparse_tracks``), Canny edges in the official
union format (``canny``), depth mapping (``depth``), camera-parameter videos (``camera``), reference
resampling (``resample``) and beat facts of audio bindings (``beats``). They take arrays and plain
parameters; which job uses which, with what settings, is said in the job modules."""
