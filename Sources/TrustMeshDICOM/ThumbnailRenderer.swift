/// Renders a small greyscale PNG of an image's first frame from its uncompressed pixel data.
///
/// Only what can be shown faithfully is rendered: one sample per pixel (MONOCHROME1 or MONOCHROME2),
/// 8 or 16 bits allocated, native (uncompressed) transfer syntaxes. Anything else (colour, compressed
/// or deflated data) gets a reason instead, and the viewer says "preview not available" rather than
/// showing a wrong image.
///
/// Values go through the Modality LUT's linear form (Rescale Slope and Intercept, PS3.3 §C.11.1.1.2),
/// then the VOI window (Window Center and Width, PS3.3 §C.11.2.1.2.1, the linear function), or, when
/// the file states no window, the sampled minimum to maximum. MONOCHROME1 is inverted (PS3.3
/// §C.7.6.3.1.2). The thumbnail is sampled (nearest pixel) so that its longer side is at most
/// `maxSize`; memory is one frame of the input plus the thumbnail.
package enum ThumbnailRenderer {
    /// How to read one frame of pixel data, decided from the header alone.
    package struct Plan: Sendable, Equatable {
        package var rows: Int
        package var columns: Int
        /// 1 or 2.
        package var bytesPerSample: Int
        package var bitsStored: Int
        package var signed: Bool
        package var bigEndian: Bool
        package var invert: Bool
        package var slope: Double
        package var intercept: Double
        package var windowCenter: Double?
        package var windowWidth: Double?
        /// Bytes of the Pixel Data element's header (tag, VR, length) before the values start.
        package var elementHeaderLength: Int

        /// Bytes of the first frame.
        package var frameBytes: Int { rows * columns * bytesPerSample }
    }

    /// The most bytes one frame may take (a 4096 × 4096 16-bit image is 32 MiB).
    package static let maximumFrameBytes = 64 << 20

    /// Decides whether a preview can be made and how; the reason is for the viewer's caption.
    package static func plan(_ info: DICOMFileInfo) -> Result<Plan, PreviewUnavailable> {
        let syntax = info.transferSyntax
        if syntax.isEncapsulated { return .failure(.init("the images are compressed (\(syntax.uid))")) }
        if syntax.isDeflated { return .failure(.init("the file is deflated")) }
        guard info.pixelDataOffset != nil else { return .failure(.init("the instance has no pixel data")) }
        guard let rows = info.rows, let columns = info.columns, rows > 0, columns > 0 else {
            return .failure(.init("the image size is not stated"))
        }
        guard (info.samplesPerPixel ?? 1) == 1 else { return .failure(.init("colour images are not previewed")) }
        let photometric = (info.photometricInterpretation ?? "MONOCHROME2").uppercased()
        guard photometric == "MONOCHROME1" || photometric == "MONOCHROME2" else {
            return .failure(.init("\(photometric) images are not previewed"))
        }
        guard let allocated = info.bitsAllocated, allocated == 8 || allocated == 16 else {
            return .failure(.init("\(info.bitsAllocated.map(String.init) ?? "unknown") bits allocated"))
        }
        let stored = min(max(info.bitsStored ?? allocated, 1), allocated)
        let plan = Plan(
            rows: rows, columns: columns, bytesPerSample: allocated / 8, bitsStored: stored,
            signed: info.pixelRepresentation == 1, bigEndian: syntax.isBigEndian,
            invert: photometric == "MONOCHROME1", slope: info.rescaleSlope ?? 1, intercept: info.rescaleIntercept ?? 0,
            windowCenter: info.windowCenter, windowWidth: info.windowWidth.flatMap { $0 >= 1 ? $0 : nil },
            elementHeaderLength: syntax.isExplicitVR ? 12 : 8)
        guard plan.frameBytes <= maximumFrameBytes else { return .failure(.init("the image is too large")) }
        return .success(plan)
    }

    /// Renders the first frame, `frame` holding at least ``Plan/frameBytes`` bytes, as a PNG.
    /// - Throws: ``DICOMError`` if the frame is short or the PNG cannot be written.
    package static func render(_ plan: Plan, frame: [UInt8], maxSize: Int = 192) throws(DICOMError) -> [UInt8] {
        guard frame.count >= plan.frameBytes else {
            throw .truncated(at: frame.count, tag: .pixelData, "the pixel data ends inside the first frame")
        }
        let scale = max(1, Double(max(plan.rows, plan.columns)) / Double(max(1, maxSize)))
        let width = max(1, Int(Double(plan.columns) / scale))
        let height = max(1, Int(Double(plan.rows) / scale))
        var values = [Double](repeating: 0, count: width * height)
        let mask = plan.bitsStored >= 32 ? UInt32.max : (UInt32(1) << UInt32(plan.bitsStored)) - 1
        let signBit = UInt32(1) << UInt32(plan.bitsStored - 1)
        frame.withUnsafeBufferPointer { bytes in
            for y in 0..<height {
                let row = min(plan.rows - 1, Int(Double(y) * scale))
                for x in 0..<width {
                    let column = min(plan.columns - 1, Int(Double(x) * scale))
                    let at = (row * plan.columns + column) * plan.bytesPerSample
                    var raw: UInt32
                    if plan.bytesPerSample == 1 {
                        raw = UInt32(bytes[at])
                    } else if plan.bigEndian {
                        raw = UInt32(bytes[at]) << 8 | UInt32(bytes[at + 1])
                    } else {
                        raw = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8
                    }
                    raw &= mask
                    let stored: Int = plan.signed && raw & signBit != 0 ? Int(raw) - Int(mask) - 1 : Int(raw)
                    values[y * width + x] = Double(stored) * plan.slope + plan.intercept
                }
            }
        }
        let lower: Double
        let upper: Double
        if let center = plan.windowCenter, let window = plan.windowWidth {
            // PS3.3 §C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 → min; x > c - 0.5 + (w-1)/2 → max.
            lower = center - 0.5 - (window - 1) / 2
            upper = center - 0.5 + (window - 1) / 2
        } else {
            lower = values.min() ?? 0
            upper = values.max() ?? 0
        }
        let span = max(upper - lower, 1e-9)
        var pixels = [UInt8](repeating: 0, count: values.count)
        for (index, value) in values.enumerated() {
            let level = ((value - lower) / span * 255).rounded()
            var byte = UInt8(min(255, max(0, level)))
            if plan.invert { byte = 255 - byte }
            pixels[index] = byte
        }
        return try PNGEncoder.greyscale(width: width, height: height, pixels: pixels)
    }
}

/// Why an instance has no preview, in words for the viewer.
package struct PreviewUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    package var reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}
