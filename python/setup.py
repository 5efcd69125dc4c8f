"""The cffi extension for setuptools (pyproject.toml holds the metadata)."""
from setuptools import setup

setup(cffi_modules=["prdshm_build.py:ffibuilder"])
