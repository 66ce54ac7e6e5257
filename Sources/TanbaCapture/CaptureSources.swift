import CTanbaCapture
import Foundation
import Synchronization
import TanbaCore
import TanbaImaging

public enum CaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    case device(String)
    case noImage(FingerPosition, attempt: Int)
    case imageFile(path: String, reason: String)
    case virtualSocket(String)

    public var description: String {
        switch self {
        case .device(let m): return "fingerprint device: \(m)"
        case .noImage(let p, let a): return "no image for \(p.displayName) (attempt \(a))"
        case .imageFile(let path, let reason): return "cannot read \(path): \(reason)"
        case .virtualSocket(let m): return "virtual scanner socket: \(m)"
        }
    }
}

/// Where finger images come from. Blocking: a device waits for the finger.
public protocol CaptureSource: Sendable {
    /// A name for the operator's screen.
    var name: String { get }
    /// One image of `position`; `attempt` is 1, 2, 3.
    func capture(_ position: FingerPosition, attempt: Int) throws(CaptureError) -> FingerprintImage
}

/// Images from files: per finger, one path per attempt (the last is reused).
public struct ImageFileSource: CaptureSource {
    public var files: [FingerPosition: [String]]
    public var dpi: Double?
    public var name: String { "image files" }
    public init(files: [FingerPosition: [String]], dpi: Double? = nil) {
        self.files = files
        self.dpi = dpi
    }
    public func capture(_ position: FingerPosition, attempt: Int) throws(CaptureError) -> FingerprintImage {
        guard let list = files[position], !list.isEmpty else { throw .noImage(position, attempt: attempt) }
        let path = list[min(attempt - 1, list.count - 1)]
        do {
            return try ImageDecoder.decode(contentsOf: path, dpi: dpi)
        } catch {
            throw .imageFile(path: path, reason: "\(error)")
        }
    }
}

/// Images made by a closure (synthetic persons in tests and load generators).
public struct GeneratedSource: CaptureSource {
    public let name: String
    let make: @Sendable (FingerPosition, Int) -> FingerprintImage?
    public init(name: String, _ make: @escaping @Sendable (FingerPosition, Int) -> FingerprintImage?) {
        self.name = name
        self.make = make
    }
    public func capture(_ position: FingerPosition, attempt: Int) throws(CaptureError) -> FingerprintImage {
        guard let image = make(position, attempt) else { throw .noImage(position, attempt: attempt) }
        return image
    }
}

/// A libfprint scanner (any supported device, or the `virtual_image` test device).
///
/// libfprint device calls are synchronous and serialised process-wide (see the C shim);
/// call `capture` from a thread that may block.
public final class LibfprintDevice: CaptureSource {
    public struct Listing: Sendable, Equatable {
        public var driver: String
        public var name: String
        public var canCapture: Bool
    }

    private let handle: Mutex<OpaquePointer?>
    public let name: String
    /// Resolution assumed when the driver does not report one (most report 0).
    public let dpi: Double
    /// Hook called just before each capture (the virtual scanner's feeder uses it).
    let beforeCapture: (@Sendable (FingerPosition, Int) throws(CaptureError) -> Void)?

    static func message(_ err: [CChar]) -> String {
        String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Devices libfprint sees (with the virtual one when `virtualImageSocket` is given).
    public static func list(virtualImageSocket: String? = nil) throws(CaptureError) -> [Listing] {
        var out = [CChar](repeating: 0, count: 8192)
        var err = [CChar](repeating: 0, count: 512)
        let n = tanba_capture_list(virtualImageSocket, &out, out.count, &err, err.count)
        guard n >= 0 else { throw .device(message(err)) }
        return message(out).split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 3 else { return nil }
            return Listing(driver: String(f[0]), name: String(f[1]), canCapture: f[2] == "1")
        }
    }

    /// Opens a device: by driver name, else the `index`-th one.
    public init(driver: String? = nil, index: Int = 0, virtualImageSocket: String? = nil, dpi: Double = 500,
                beforeCapture: (@Sendable (FingerPosition, Int) throws(CaptureError) -> Void)? = nil) throws(CaptureError) {
        var device: OpaquePointer?
        var nameBuffer = [CChar](repeating: 0, count: 256)
        var err = [CChar](repeating: 0, count: 512)
        let rc = tanba_capture_open(virtualImageSocket, driver, Int32(index), &device, &nameBuffer, nameBuffer.count, &err, err.count)
        guard rc == 0, let device else { throw .device(LibfprintDevice.message(err)) }
        self.handle = Mutex(device)
        self.name = LibfprintDevice.message(nameBuffer)
        self.dpi = dpi
        self.beforeCapture = beforeCapture
    }

    public func capture(_ position: FingerPosition, attempt: Int) throws(CaptureError) -> FingerprintImage {
        try beforeCapture?(position, attempt)
        let device: OpaquePointer? = handle.withLock { $0 }
        guard let device else { throw .device("the device is closed") }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var ppmm = 0.0
        var err = [CChar](repeating: 0, count: 512)
        guard tanba_capture_image(device, 1, &pixels, &width, &height, &ppmm, &err, err.count) == 0, let pixels else {
            throw .device(LibfprintDevice.message(err))
        }
        defer { tanba_capture_free(pixels) }
        let bytes = [UInt8](UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height)))
        let resolution = ppmm > 1 ? ppmm * 25.4 : dpi
        return FingerprintImage(width: Int(width), height: Int(height), pixels: bytes, dpi: resolution)
    }

    public func close() {
        let device: OpaquePointer? = handle.withLock { h in defer { h = nil }; return h }
        if let device { tanba_capture_close(device) }
    }

    deinit { close() }
}

/// Feeds libfprint's `virtual_image` device over its AF_UNIX socket (protocol in
/// PLATFORM_NOTES.md: int32 width, int32 height, native endian, then width·height bytes
/// of 8-bit grey). The device listens once it is opened; the feeder connects lazily.
public final class VirtualImageFeeder: Sendable {
    public let socketPath: String
    private let fd = Mutex<Int32>(-1)

    public init(socketPath: String) { self.socketPath = socketPath }

    /// A fresh socket path in the temporary directory.
    public static func temporarySocketPath() -> String {
        NSTemporaryDirectory() + "tanba-vimg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
    }

    private func connected() throws(CaptureError) -> Int32 {
        let current = fd.withLock { $0 }
        if current >= 0 { return current }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw .virtualSocket("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(s)
            throw .virtualSocket("path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
            raw[path.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = String(cString: strerror(errno))
            Glibc.close(s)
            throw .virtualSocket("connect \(socketPath): \(e) (is the virtual_image device open?)")
        }
        fd.withLock { $0 = s }
        return s
    }

    private func write(_ bytes: [UInt8]) throws(CaptureError) {
        let s = try connected()
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(s, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .virtualSocket("send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    private static func header(_ a: Int32, _ b: Int32) -> [UInt8] {
        var out = [UInt8]()
        withUnsafeBytes(of: a) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: b) { out.append(contentsOf: $0) }
        return out
    }

    /// Queues an image; the device returns it from its next capture. Images larger than the
    /// socket buffer block until the device reads them, so this writes on its own thread
    /// (after connecting here, so that a device that is not listening is an error, not a
    /// capture waiting for ever).
    public func push(_ image: FingerprintImage) throws(CaptureError) {
        let bytes = VirtualImageFeeder.header(Int32(image.width), Int32(image.height)) + image.pixels
        try pushRaw(bytes)
    }

    /// Sends a command (negative width): e.g. (-1, code) retry error, (-2, code) device error.
    public func command(_ code: Int32, _ value: Int32) throws(CaptureError) {
        try pushRaw(VirtualImageFeeder.header(code, value))
    }

    private let writer = Mutex<[UInt8]?>(nil)

    private func pushRaw(_ bytes: [UInt8]) throws(CaptureError) {
        _ = try connected()
        // Serialised: one writer thread at a time keeps frames whole and in order.
        let box = UnsafeSendableBox(bytes: bytes, feeder: self)
        let thread = Thread {
            box.feeder.writer.withLock { _ in try? box.feeder.write(box.bytes) }
        }
        thread.start()
    }

    public func close() {
        fd.withLock { if $0 >= 0 { Glibc.close($0); $0 = -1 } }
    }

    deinit { close() }
}

private struct UnsafeSendableBox: Sendable {
    let bytes: [UInt8]
    let feeder: VirtualImageFeeder
}

/// The `virtual_image` device with its feeder: what a test or a demo station uses as
/// "the scanner". `imageFor` decides what the person's finger looks like on each attempt.
public final class VirtualScanner: CaptureSource {
    public let device: LibfprintDevice
    public let feeder: VirtualImageFeeder
    public var name: String { device.name }

    public init(socketPath: String = VirtualImageFeeder.temporarySocketPath(), dpi: Double = 500,
                imageFor: @escaping @Sendable (FingerPosition, Int) -> FingerprintImage?) throws(CaptureError) {
        let feeder = VirtualImageFeeder(socketPath: socketPath)
        self.feeder = feeder
        self.device = try LibfprintDevice(driver: "virtual_image", virtualImageSocket: socketPath, dpi: dpi,
                                          beforeCapture: { (position, attempt) throws(CaptureError) in
            guard let image = imageFor(position, attempt) else { throw .noImage(position, attempt: attempt) }
            try feeder.push(image)
        })
    }

    public func capture(_ position: FingerPosition, attempt: Int) throws(CaptureError) -> FingerprintImage {
        try device.capture(position, attempt: attempt)
    }

    public func close() {
        feeder.close()
        device.close()
        try? FileManager.default.removeItem(atPath: feeder.socketPath)
    }
}
