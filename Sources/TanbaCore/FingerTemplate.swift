/// How the finger image was obtained (ISO/IEC 19794-2 impression type codes).
public enum ImpressionType: UInt8, Sendable, Codable {
    case liveScanPlain = 0
    case liveScanRolled = 1
    case nonLiveScanPlain = 2
    case nonLiveScanRolled = 3
    case latent = 7
    case swipe = 8
    case liveScanContactless = 9
}

/// Minutiae of one finger view plus what is needed to interpret them.
public struct FingerTemplate: Sendable, Hashable, Codable {
    public var position: FingerPosition
    public var impression: ImpressionType
    /// Size of the image the minutiae were taken from, in pixels.
    public var width: UInt16
    public var height: UInt16
    /// Resolution in pixels per centimetre (ISO convention; 500 dpi = 197 px/cm).
    public var resolutionX: UInt16
    public var resolutionY: UInt16
    /// Finger quality 0–100 (ISO/IEC 29794-1 scale; 0 = unknown or unusable).
    public var quality: UInt8
    public var minutiae: [Minutia]

    public init(position: FingerPosition = .unknown, impression: ImpressionType = .liveScanPlain,
                width: UInt16, height: UInt16, resolutionX: UInt16 = 197, resolutionY: UInt16 = 197,
                quality: UInt8 = 0, minutiae: [Minutia]) {
        self.position = position
        self.impression = impression
        self.width = width
        self.height = height
        self.resolutionX = resolutionX
        self.resolutionY = resolutionY
        self.quality = quality
        self.minutiae = minutiae
    }

    /// Resolution in dots per inch along x (rounded).
    public var dpiX: Double { Double(resolutionX) * 2.54 }
    public var dpiY: Double { Double(resolutionY) * 2.54 }

    /// Pixels-per-centimetre value for a dots-per-inch figure (500 dpi → 197).
    public static func pixelsPerCentimetre(dpi: Double) -> UInt16 {
        UInt16(clamping: Int((dpi / 2.54).rounded()))
    }
}

/// Several finger views of one person captured together (a ten-print or part of one).
public struct FingerprintRecord: Sendable, Hashable, Codable {
    public var views: [FingerTemplate]
    /// Capture device identifier as carried by ISO/ANSI records (0 = unknown).
    public var captureDeviceID: UInt16
    /// ANSI INCITS 378 product identifier (owner, type); 0 when absent.
    public var productOwner: UInt16
    public var productType: UInt16

    public init(views: [FingerTemplate], captureDeviceID: UInt16 = 0, productOwner: UInt16 = 0, productType: UInt16 = 0) {
        self.views = views
        self.captureDeviceID = captureDeviceID
        self.productOwner = productOwner
        self.productType = productType
    }

    public func view(for position: FingerPosition) -> FingerTemplate? {
        views.first { $0.position == position }
    }
}
