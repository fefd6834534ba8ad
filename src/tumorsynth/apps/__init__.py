"""The study around the generator, each an optional extra: training (:mod:`.train`), evaluation
(:mod:`.evaluate`, :mod:`.metrics`), the realism report (:mod:`.realism`), the blinded reader
study (:mod:`.reader_study`) and the paper's figures (:mod:`.figures`)."""
