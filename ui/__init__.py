"""Qt user interface: the only package that imports PyQt6 and pyqtgraph."""

import os

# Qt's platform plugins delay each repaint request by an idle timer (5 ms by default) to batch
# updates; the live view already paces itself to the display, so that wait is pure latency.
os.environ.setdefault("QT_QPA_UPDATE_IDLE_TIME", "0")
