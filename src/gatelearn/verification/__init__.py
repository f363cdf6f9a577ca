"""Checking circuits and artifacts, by simulation and by proof.

* :mod:`.agreement`: golden outputs from the one software simulator; a backend's class scores
  against ``model.eval()`` (torch is imported only by :func:`~.agreement.model_counts`);
* :mod:`.testbench`: self-checking Verilog testbenches with golden vectors, and their results;
* :mod:`.reference`: the reference AIG of a whole Verilog top, built from the IR in the
  Verilog's shape, its encoder from the model's thresholds and the design's input format (and
  that format's claims checked against the model);
* :mod:`.equivalence`: ABC ``cec`` proofs of gate networks, Verilog tops and pipelined tops;
* :mod:`.artifacts`: tests (not proofs) of the C library and the NumPy module built from the files
  on disk, against the software simulator.
"""
