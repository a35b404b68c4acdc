"""Training and integer export of MLVC's intra / residual codec (installed by the `train` extra).

Modules: `intra_model` (the TF QAT model; imports TensorFlow), `train_intra` (the trainer),
`export_intra` (checkpoint -> integer graphs + CDF tables), `data` and `inter_data` (training
pictures; folders come from arguments or MLVC_DATA / MLVC_PHOTOS, never a fixed path).
Importing this package imports no TensorFlow.  Research one-offs live in research/ (not installed).
"""
