/// An 8-bit grayscale fingerprint image (row-major, 0 = black ridge ink, 255 = white)
/// with its resolution. Platform-free so that generators and codecs can share it.
public struct FingerprintImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]
    /// Resolution in dots per inch; nil when the source did not say (or said nonsense).
    public var dpi: Double?

    public init(width: Int, height: Int, pixels: [UInt8], dpi: Double? = nil) {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "pixel buffer does not match size")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.dpi = dpi
    }

    /// A uniform image (white by default).
    public init(width: Int, height: Int, fill: UInt8 = 255, dpi: Double? = nil) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height), dpi: dpi)
    }

    @inlinable public subscript(x: Int, y: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }
}
