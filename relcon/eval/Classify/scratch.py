"""From scratch: the fine-tuning network (encoder + MLP head) trained from a random
initialisation of the encoder, the paper's "from scratch" rows. Same settings as
``MLP_finetune``; the encoder architecture is the pre-training config's."""
from relcon.eval.Classify.MLP_finetune import Model as FinetuneModel


class Model(FinetuneModel):
    random_encoder = True
