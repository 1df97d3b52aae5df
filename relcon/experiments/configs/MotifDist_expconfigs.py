"""Stage 1 configs: the learned motif distance."""
from relcon.data.Base_Dataset import SSLDataConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.nets.Base_Nets import Base_NetConfig

allmotifdist_expconfigs = {}

# The reference's distance: CrossAttn with 64-d features, kernel 15, two dilated blocks.
allmotifdist_expconfigs["25_3_8_motifdist"] = MotifDist_ModelConfig(
    description="MotifDist (reference values): CrossAttn E=64, k=15, 2 dilated blocks, 10 epochs on dummydataset",
    data_config=SSLDataConfig(data_folder="relcon/data/datasets/dummydataset"),
    net_config=Base_NetConfig(
        net_folder="CrossAttn",
        net_file="CrossAttn_Net",
        params={"query_dimsize": 3, "key_dimsize": 3, "kernel_size": 15, "embed_dim": 64,
                "double_receptivefield": 2},
    ),
    epochs=10,
    lr=0.001,
    batch_size=64,
    save_epochfreq=10,
)
