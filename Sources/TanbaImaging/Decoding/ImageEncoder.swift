import TanbaCore

/// Writes fingerprint images (used by the synthetic generator and the CLI).
public enum ImageEncoder {
    /// 8-bit gray PNG, with a pHYs chunk when the image has a dpi.
    public static func png(_ image: FingerprintImage) throws(ImageEncodeError) -> [UInt8] {
        try PNG.encode(image)
    }

    /// Binary 8-bit PGM (P5). PGM cannot record a resolution; the dpi is dropped.
    public static func pgm(_ image: FingerprintImage) -> [UInt8] {
        PGM.encode(image)
    }

    /// TIFF in a chosen layout and compression. Package-internal: it exists so that tests can
    /// make TIFF fixtures of every kind the decoder must read.
    package static func tiff(_ image: FingerprintImage, layout: TIFFLayout = .gray8,
                             compression: TIFFCompression = .none) throws(ImageEncodeError) -> [UInt8] {
        try TIFF.encode(image, layout: layout, compression: compression)
    }

    /// How the TIFF encoder stores the gray samples.
    package enum TIFFLayout: Sendable, CaseIterable {
        case gray8, gray16
        /// 8-bit indices into a reversed gray colour map, so a reader ignoring the map fails.
        case palette8
        /// R = G = B.
        case rgb8
    }

    /// TIFF compression schemes, by their COMPRESSION tag value.
    package enum TIFFCompression: UInt16, Sendable, CaseIterable {
        case none = 1, lzw = 5, deflate = 8, packBits = 32773
    }
}
