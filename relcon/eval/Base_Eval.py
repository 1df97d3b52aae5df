"""Evaluation configs: how a pre-trained encoder is judged on a labelled task."""
from relcon.models.Base_Model import Base_ModelConfig


class Base_EvalConfig(Base_ModelConfig):
    """``relcon.eval.<model_folder>.<model_file>.Model`` run over ``cv_splits`` folds.

    ``pretrain_epoch`` picks the pre-trained checkpoint ("best", "latest" or an epoch number);
    ``evalnetparams`` sizes the head (embed_dim, mlp_dim, class_num) of fine-tuning models.
    """

    def __init__(self, model_folder: str, model_file: str, data_config, name: str = "", epochs=50, lr=0.001,
                 batch_size=16, save_epochfreq=100, pretrain_epoch="best", evalnetparams={}, cv_splits=1,
                 num_threads=-1, verbose=1, seed=1234, **kwargs):
        super().__init__(model_folder=model_folder, model_file=model_file, data_config=data_config,
                         net_config=None, epochs=epochs, lr=lr, batch_size=batch_size,
                         save_epochfreq=save_epochfreq, seed=seed, num_threads=num_threads, **kwargs)
        self.name = name
        self.pretrain_epoch = pretrain_epoch
        self.evalnetparams = dict(evalnetparams)
        self.cv_splits = cv_splits
        self.verbose = verbose
