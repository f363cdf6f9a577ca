"""Checking circuits and artifacts, by simulation and by proof.

* :mod:`.agreement`: golden outputs from the one software simulator; a backend's class scores
  against ``model.eval()`` (torch is imported only by :func:`~.agreement.model_counts`);
* :mod:`.testbench`: self-checking Verilog testbenches with golden vectors, and their results;
* :mod:`.reference`: the reference AIG of a whole Verilog top, built from the IR in the
  Verilog's shape;
* :mod:`.equivalence`: ABC ``cec`` proofs of gate networks, Verilog tops and pipelined tops.
"""
