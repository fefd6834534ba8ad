"""Adapters of the tumor generator to other training frameworks (optional extras).

* :mod:`tumorsynth.integrations.nnunet`: nnU-Net v2 (``pip install 'tumorsynth[nnunet]'``):
  dataset export, a trainer that synthesizes tumors on the fly, and its installation.
"""
