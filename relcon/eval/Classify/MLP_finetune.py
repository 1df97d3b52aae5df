"""Fine-tuning: encoder + Linear(embed_dim, mlp_dim) - ReLU - Linear(mlp_dim, class_num), trained
end to end with Adam and cross-entropy on the fold's training split, through the shared trainer
(checkpoints, resumable); the checkpoint with the best validation loss is tested.

evalnetparams: ``embed_dim`` (the encoder's output size), ``mlp_dim``, ``class_num``; the
config's ``epochs``, ``lr``, ``batch_size``, ``save_epochfreq`` drive training.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from relcon.eval.Base_Eval import Base_EvalClass, Split
from relcon.models.Base_Model import Base_ModelClass, make_loader
from relcon.utils.inference import batched_inference
from relcon.utils.precision import upcast


def mlp_head(params: dict, embed_dim: int | None = None, out_dim: int | None = None) -> torch.nn.Module:
    """Linear(embed_dim, mlp_dim) - ReLU - Linear(mlp_dim, out_dim); ``out_dim`` defaults to
    evalnetparams' ``class_num`` (regression passes the number of targets)."""
    needed = ("mlp_dim",) + (("class_num",) if out_dim is None else ())
    missing = [k for k in needed if k not in params]
    if missing:
        raise ValueError(f"evalnetparams lacks {', '.join(missing)}; expected embed_dim, "
                         + ("mlp_dim and class_num" if out_dim is None else "mlp_dim"))
    d = int(params.get("embed_dim", embed_dim))
    out = int(params["class_num"]) if out_dim is None else int(out_dim)
    return torch.nn.Sequential(torch.nn.Linear(d, int(params["mlp_dim"])), torch.nn.ReLU(),
                               torch.nn.Linear(int(params["mlp_dim"]), out))


class FinetuneTrainer(Base_ModelClass):
    """The shared training loop over (encoder -> head) with a supervised loss."""

    def __init__(self, config, encoder, head, run_dir, device, loss_fn, encoder_source: dict,
                 extra_state: dict | None = None):
        super().__init__(config, run_dir=run_dir, device=device)
        self.trained_net = encoder.to(self.device)
        self.net = head.to(self.device)
        self.loss_fn = loss_fn
        self.encoder_source = encoder_source
        self.extra_state = dict(extra_state or {})  # stored in every checkpoint (e.g. target scaling)

    def checkpoint_modules(self) -> dict:
        return {"net": self.net, "trained_net": self.trained_net}

    def trainable_parameters(self):
        return list(self.trained_net.parameters()) + list(self.net.parameters())

    def setup_dataloader(self, X, y, train: bool):
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
        return make_loader(dataset, self.batch_size, train, self.seed, self.num_workers,
                           pin_memory=self.device.type == "cuda")

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(self.trained_net(X))

    def compute_loss(self, batch, train: bool) -> torch.Tensor:
        X, y = batch
        # upcast: the loss reduction in float32 also when the forward ran in bfloat16
        return self.loss_fn(upcast(self.forward(X.to(self.device, non_blocking=True))),
                            y.to(self.device, non_blocking=True))

    def create_state_dict(self, epoch, test_loss, **extra):
        return super().create_state_dict(epoch, test_loss, encoder_source=self.encoder_source, **self.extra_state,
                                         **extra)

    def outputs(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Head outputs (N, out) of windows X (N, C, T)."""
        return batched_inference(torch.nn.Sequential(self.trained_net, self.net), X, batch_size, self.device,
                                 desc=None, precision=self.precision)


class Model(Base_EvalClass):
    task = "classification"
    frozen_encoder = False

    def loss_fn(self, logits, y):
        return F.cross_entropy(logits, y)

    def make_head(self) -> torch.nn.Module:
        return mlp_head(self.config.evalnetparams, getattr(self.encoder, "embed_dim", None))

    def trainer_state(self) -> dict:
        """What the trainer stores in its checkpoints besides the weights."""
        return {}

    def make_trainer(self) -> FinetuneTrainer:
        torch.manual_seed(self.config.seed)
        return FinetuneTrainer(self.config, self.encoder, self.make_head(), self.run_dir, self.device, self.loss_fn,
                               self.encoder_source, {**self.trainer_state(), **getattr(self, "_fit_identity", {})})

    def target(self, y: np.ndarray) -> np.ndarray:
        class_num = int(self.config.evalnetparams["class_num"])
        if y.max() >= class_num:
            raise ValueError(f"label {int(y.max())} found; expected class ids in [0, {class_num}) "
                             f"(evalnetparams class_num={class_num})")
        return y.astype(np.int64)

    def fit(self, train: Split, val: Split) -> None:
        # Stored in the trainer's checkpoints, so that stale_reason can compare them.
        self._fit_identity = {"fit_settings": self.fit_settings(), "fit_data": self.fit_data(train, val)}
        self.trainer = self.make_trainer()
        self.trainer.train_data, self.trainer.train_labels = train.X, self.target(train.y)
        self.trainer.val_data, self.trainer.val_labels = val.X, self.target(val.y)
        self.trainer.fit()
        # Tested as when the fit is reused: the best validation epoch's weights, not the last's.
        self.trainer.load("best")

    def load(self) -> None:
        self.trainer = self.make_trainer()
        self.trainer.load("best")

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.trainer.outputs(X), axis=1)
