#!/usr/bin/python3
"""QGIS peer of benches/reference.rs: native:intersection of INPUT with OVERLAY (headless
PyQGIS, as qgis_process would run it), keeping TBBH and DLMC, written to OUTPUT (GeoPackage).
Prints "RESULT seconds=S features=N". Run with Debian's /usr/bin/python3."""
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsVectorLayer  # noqa: E402

QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
sys.path.append("/usr/share/qgis/python/plugins")
import processing  # noqa: E402
from processing.core.Processing import Processing  # noqa: E402
from qgis.analysis import QgsNativeAlgorithms  # noqa: E402

Processing.initialize()
QgsApplication.processingRegistry().addProvider(QgsNativeAlgorithms())
inp, overlay, out = sys.argv[1:4]
t = time.time()
processing.run("native:intersection", {"INPUT": inp, "OVERLAY": overlay, "INPUT_FIELDS": ["TBBH"],
                                        "OVERLAY_FIELDS": ["DLMC"], "OUTPUT": out})
s = time.time() - t
n = QgsVectorLayer(out, "out", "ogr").featureCount()
print(f"RESULT seconds={s:.2f} features={n}")
