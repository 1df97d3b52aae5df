from setuptools import find_packages, setup

setup(
    name="relcon",
    version="0.1.0",
    description="RelCon: relative contrastive learning for a motion foundation model (wearable accelerometry)",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["relcon", "relcon.*"]),
    # torch is left as a range so that an existing install (CPU or CUDA) is kept;
    # CI installs the CPU wheel first (see .ci/run).
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "pandas>=2.0",
        "scikit-learn>=1.3",
        "tqdm>=4.60",
        "requests>=2.28",
    ],
    extras_require={
        # matplotlib so that the report's figures are tested too; import-linter checks the layers
        "test": ["pytest>=7", "matplotlib>=3.6", "import-linter>=2.0"],
        "plots": ["matplotlib>=3.6"],
        "tensorboard": ["tensorboard>=2.10"],
        # device files (.cwa, .gt3x, .bin) for process_recordings / relcon.embed; actipy needs Java
        "devices": ["actipy>=3.0"],
    },
)
