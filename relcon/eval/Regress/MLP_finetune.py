"""Fine-tuning for regression: encoder + Linear(embed_dim, mlp_dim) - ReLU - Linear(mlp_dim, M),
trained end to end with Adam on the mean squared error of the targets standardised on the training
split, through the shared trainer; the checkpoint with the best validation loss is tested, and its
predictions are mapped back to the targets' units.

evalnetparams: ``embed_dim`` (the encoder's output size), ``mlp_dim``; M comes from the data. The
config's ``epochs``, ``lr``, ``batch_size``, ``save_epochfreq`` drive training.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from relcon.eval.Base_Eval import Split
from relcon.eval.Classify.MLP_finetune import Model as ClassifyFinetune
from relcon.eval.Classify.MLP_finetune import mlp_head
from relcon.eval.Regress.targets import TargetScaler
from relcon.models.Base_Model import load_checkpoint


class Model(ClassifyFinetune):
    task = "regression"

    def loss_fn(self, outputs, y):
        return F.mse_loss(outputs, y)

    def make_head(self) -> torch.nn.Module:
        return mlp_head(self.config.evalnetparams, getattr(self.encoder, "embed_dim", None),
                        out_dim=self.targets.n_targets)

    def trainer_state(self) -> dict:
        return {"targets": self.targets.state()}

    def target(self, y: np.ndarray) -> np.ndarray:
        return self.targets.transform(y)  # (N, M) float32

    def fit(self, train: Split, val: Split) -> None:
        self.targets = TargetScaler.fit(train.y)
        super().fit(train, val)

    def load(self) -> None:
        self.targets = TargetScaler.from_state(load_checkpoint(self.checkpoint)["targets"])
        super().load()

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.targets.inverse(self.trainer.outputs(X))
