"""Array kernels of the generator: counter-based noise (:mod:`.noise`), stacks of tumor grids
(:mod:`.grids`) and separable resampling (:mod:`.interp`). No generator logic lives here."""
