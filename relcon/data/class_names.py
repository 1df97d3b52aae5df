"""Names of the label ids of the benchmark classification sets, in id order (docs/datasets.md,
"Outputs"). Plain constants, so that configs can use them without importing the processors;
tests/data/test_class_names.py checks them against the processors' label maps."""

HHAR = ("bike", "sit", "stairsdown", "stairsup", "stand", "walk")
MOTIONSENSE = ("downstairs", "upstairs", "walking", "jogging", "standing", "sitting")
# sslbench PAMAP2: rank of the activity id among those kept (all present on the full data).
PAMAP2_SSLBENCH = ("lying", "sitting", "standing", "walking", "running", "cycling", "Nordic walking",
                   "ascending stairs", "descending stairs", "vacuum cleaning", "ironing", "rope jumping")
PAMAP2_PRIORPT = ("lying", "sitting", "standing", "walking", "ascending stairs", "descending stairs",
                  "vacuum cleaning", "ironing")
OPPORTUNITY = ("Stand", "Walk", "Lie", "Sit")
# Capture-24, the "label:Walmsley2020" column of its annotation-label-dictionary.csv (Walmsley et
# al. 2022, Br J Sports Med 56:1008), in intensity order; the processor's class ids follow it.
CAPTURE24_WALMSLEY2020 = ("sleep", "sedentary", "light", "moderate-vigorous")
# Shoulder-physiotherapy smartwatch set (Burns et al. 2018, as in seglearn 1.2.5): seglearn's
# y_labels codes in id order, spelled out where the code is unambiguous.
SHOULDERPHYSIO = ("pendulum (PEN)", "abduction (ABD)", "forward elevation (FEL)", "internal rotation (IR)",
                  "external rotation (ER)", "trapezius (TRAP)", "row (ROW)")

BY_SET = {"sslbench/hhar": HHAR, "sslbench/motionsense": MOTIONSENSE, "sslbench/pamap2": PAMAP2_SSLBENCH,
          "priorpt/pamap2": PAMAP2_PRIORPT, "priorpt/opportunity": OPPORTUNITY,
          "capture24": CAPTURE24_WALMSLEY2020, "shoulderphysio": SHOULDERPHYSIO}
