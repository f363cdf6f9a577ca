"""Benchmark datasets (MNIST, Fashion-MNIST, CIFAR-10, UCI Adult, Breast Cancer, MONK 1-3) as
numpy arrays, with the paper's input encoding as a gatelearn encoder module.

    from gatelearn.data import load_dataset
    ds = load_dataset("adult")            # bundled copy; MNIST etc. via data_dir / GATELEARN_DATA
    enc = ds.make_encoder()               # TabularEncoder, 116 bits, fitted on ds.x_train
"""
from .datasets import DATASETS, Dataset, load_dataset, stratified_split

__all__ = ["DATASETS", "Dataset", "load_dataset", "stratified_split"]
