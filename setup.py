"""Impact Area presence analytics: installable package `impact` (lib/) and its table schemas (schemas/).

Exact versions of everything (direct and transitive) live in constraints.txt; the ranges below are what
the code needs. JVM jars are pinned separately in conf/jars.lock (see `make jars`).
"""
from setuptools import find_packages, setup

setup(
    name="impact-presence",
    version="0.1.0",
    description="West Midlands Police Impact Area presence analytics (PySpark, Sedona, Delta)",
    python_requires=">=3.11,<3.12",
    package_dir={"": "lib", "impact_schemas": "schemas", "impact_conf": "conf"},
    packages=find_packages("lib") + ["impact_schemas", "impact_conf"],
    # conf/ travels in the wheel as `impact_conf`: the embedded default of an installed package (impact.config)
    package_data={"impact_schemas": ["*.yaml"], "impact_conf": ["*.yaml", "*.csv", "*.lock"]},
    install_requires=[
        "pyspark>=3.5.3,<3.6",
        "delta-spark==3.3.3",
        "apache-sedona==1.8.1",
        "great-expectations>=1.19,<2",
        "pandas>=2.2,<3",
        "numpy>=1.26,<2",
        "pyarrow>=15,<18",
        "shapely>=2.0",
        "pyproj>=3.6",
        "pyshp>=2.3",
        "osgb>=1.2,<2",  # OSTN15 grid shifts (Ordnance Survey data) for WGS84 <-> BNG within 1 m
        "PyYAML>=6",
        "scipy>=1.11",
        "statsmodels>=0.14,<0.16",  # negative binomial panel models, GLM cross-checks (impact.analysis)
        "pyfixest>=0.60,<0.61",  # Poisson fixed-effects models with clustered SEs (impact.analysis)
    ],
    extras_require={
        "test": ["pytest>=8,<9.2", "pytest-xdist>=3.6", "chispa>=0.10", "hypothesis>=6.100", "deltalake>=0.22", "PyHive[hive_pure_sasl]==0.7.0"],
        "package": ["venv-pack>=0.2,<0.3"],    # `make package`: the packed virtualenv for spark-submit --archives
    },
    entry_points={"console_scripts": ["impact=impact.runner:console_main"]},
)
