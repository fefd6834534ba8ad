"""Jobs over the generator: one case from files to an output folder (:mod:`.pipeline`), resumable
and shareable batches (:mod:`.batch`), PNG previews (:mod:`.preview`), the procedural phantom
(:mod:`.phantom`), owner records of temporary folders (:mod:`.owners`) and the opt-in allocator
tuning (:mod:`.allocator`)."""
