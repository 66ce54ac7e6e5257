extension FingerprintRecord {
    /// The top four bits of `captureDeviceID`: ISO/IEC 19794-2 "capture equipment
    /// certifications" or ANSI INCITS 378 "capture equipment compliance" flags.
    public var captureEquipmentFlags: UInt8 { UInt8(truncatingIfNeeded: captureDeviceID >> 12) }

    /// The low twelve bits of `captureDeviceID`: the vendor-assigned capture device type ID.
    public var captureDeviceTypeID: UInt16 { captureDeviceID & 0x0FFF }
}
