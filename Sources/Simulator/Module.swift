/// The `Simulator` module of Tessera.
public enum SimulatorModule {}
