"""The Store operator's Kubernetes side: the CustomResourceDefinition stores.storesim.io.

Imports nothing heavy (no kubernetes client): the CRD is data, generated from the StoreSpec model so the API
server and the simulators validate a spec by one set of rules.
"""

from storesim.operator._crd import GROUP, KIND, PLURAL, PRINTER_COLUMNS, VERSION, spec_schema, store_crd

__all__ = ["GROUP", "KIND", "PLURAL", "PRINTER_COLUMNS", "VERSION", "spec_schema", "store_crd"]
