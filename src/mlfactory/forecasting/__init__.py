"""Forecasting: many series, one model family (``task: forecasting``).

``panel.py`` turns rows into a checked, regular panel (one series per id), with
``keys.py`` (ids as text, the key of several id columns, ids that could name a
file refused) and ``grid.py`` (a frequency's anchored grid, gaps and filling);
``calendar.py`` knows the frequencies and the holiday features;
``forecasters.py`` is the ``FORECASTERS`` table (seasonal naive, statsforecast's
AutoETS, AutoTheta and AutoARIMA per series, a global LightGBM over every
series, Prophet as an extra);
``backtest.py`` runs rolling-origin windows and scores them; ``select.py``
chooses a model per series (or one for all) and calibrates the intervals.
Training (``training/forecast.py``) runs these on an engine; the registry
stores the result as one package (``registry/forecasts.py``).
"""

import os

# LightGBM's OpenMP threads spin while they wait by default; on a machine whose cores
# are shared (engine workers, a server beside) that spinning halves the work done. A
# value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
