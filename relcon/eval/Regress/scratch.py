"""From scratch for regression: the fine-tuning network (encoder + MLP head) trained from a random
initialisation of the encoder. Same settings as ``Regress/MLP_finetune``."""
from relcon.eval.Regress.MLP_finetune import Model as FinetuneModel


class Model(FinetuneModel):
    random_encoder = True
