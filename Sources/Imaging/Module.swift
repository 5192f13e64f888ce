/// The `Imaging` module of Tessera.
public enum ImagingModule {}
