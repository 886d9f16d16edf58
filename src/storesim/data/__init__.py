"""Reading the data loader's files (or building them in memory) into the world's catalogue and discounts."""

from storesim.data._dataset import Dataset, DatasetError, build_dataset, dataset_from_tables, load_dataset

__all__ = ["Dataset", "DatasetError", "build_dataset", "dataset_from_tables", "load_dataset"]
