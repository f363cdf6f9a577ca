"""The hardware flow on a run directory, one module per command, each a thin layer over
:mod:`gatelearn.backends` (emitters), :mod:`gatelearn.verification` (proofs, testbenches) and
:mod:`gatelearn.tools` (ABC, yosys, simulators):

* :mod:`.export`: ``gatelearn export`` -- Verilog (+ testbenches), AIGER, BLIF into RUN_DIR/artifacts;
* :mod:`.optimize`: ``gatelearn optimize`` -- ABC on the gate network, kept when smaller and proven;
* :mod:`.verify`: ``gatelearn verify`` -- every circuit and artifact proven equal to the model;
* :mod:`.report`: ``gatelearn report`` -- gates, AND nodes, 6-LUTs, latency, accuracy;
* :mod:`.simulate`: a Verilog artifact's testbench run by a simulator, compared bit for bit.

:mod:`.manifest` describes what ``export`` wrote (RUN_DIR/artifacts/manifest.json).
"""
