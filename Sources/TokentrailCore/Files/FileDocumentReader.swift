public import CloudTrail
import Foundation

/// What a file yields: JSON documents with the line they start on (1-based), or a problem with
/// the file's content (corrupt gzip, a document too large) that costs the rest of that file only.
public enum FileItem {
    /// Valid during the callback only.
    case document(UnsafeRawBufferPointer, line: Int)
    case problem(CloudTrailDecodingError)
}

/// Reads one CloudTrail file, plain or gzip (by magic number, whatever its name), streaming.
///
/// Layout is decided from the first lines: when the first non-blank line (or, if that one is
/// broken, the second) is a whole JSON value, the file is JSON lines and is read one line at a
/// time, so memory does not grow with the file. Otherwise (a pretty-printed `Records` document, an
/// array, one event) the file is one document, read whole. A CloudTrail S3 object is one line.
public enum FileDocumentReader {
    /// Reads `path`, handing every item to `body` in file order and the number of bytes read from
    /// disk to `progress`. Throws `FileInputError` when the file cannot be read; anything `body` throws.
    public static func read(
        path: String, maxDocumentBytes: Int = 1 << 30,
        progress: (Int) -> Void = { _ in },
        _ body: (FileItem) throws -> Void
    ) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileInputError(path: path, problem: String(cString: strerror(errno))) }
        defer { close(fd) }
        var assembler = DocumentAssembler(maxDocumentBytes: maxDocumentBytes)
        var inflater: GzipInflater?
        var first = true
        var corrupt = false
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        reading: while true {
            let n = Foundation.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileInputError(path: path, problem: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            progress(n)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            if first {
                first = false
                if n >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B { inflater = try? GzipInflater() }
            }
            guard let inflater else {
                try assembler.consume(bytes, body)
                continue
            }
            do {
                try inflater.feed(bytes) { (piece: UnsafeRawBufferPointer) throws(ConsumerError) in
                    do { try assembler.consume(piece, body) } catch { throw ConsumerError(error) }
                }
            } catch {
                if case .consumer(let e) = error { throw e.underlying }
                corrupt = true
                break reading
            }
        }
        if !corrupt, let inflater {
            do { try inflater.finish() } catch { corrupt = true }
        }
        try assembler.finish(body)
        if corrupt { try body(.problem(CloudTrailDecodingError(reason: .badGzip))) }
    }

    /// Carries `body`'s error through `GzipInflater.feed`'s typed throw.
    struct ConsumerError: Error {
        let underlying: any Error
        init(_ underlying: any Error) { self.underlying = underlying }
    }
}

/// Splits a byte stream into documents (see `FileDocumentReader`).
struct DocumentAssembler {
    enum Layout { case undecided, lines, whole }

    let maxDocumentBytes: Int
    var layout = Layout.undecided
    /// Bytes not yet handed out; in `.lines`, starting at the beginning of line `line`.
    var pending: [UInt8] = []
    var line = 1
    /// The current line (or whole document) passed `maxDocumentBytes`: dropped until its end.
    var oversize = false

    init(maxDocumentBytes: Int) { self.maxDocumentBytes = maxDocumentBytes }

    mutating func consume(_ bytes: UnsafeRawBufferPointer, _ body: (FileItem) throws -> Void) throws {
        switch layout {
        case .whole:
            append(bytes)
        case .lines:
            if oversize {
                // Still inside a line too long to keep: drop up to its end.
                guard let newline = bytes.firstIndex(of: 0x0A) else { return }
                try body(.problem(CloudTrailDecodingError(reason: .tooLarge, line: line)))
                oversize = false
                line += 1
                return try consume(UnsafeRawBufferPointer(rebasing: bytes[(newline + 1)...]), body)
            }
            pending.append(contentsOf: bytes)
            try drainLines(body)
        case .undecided:
            append(bytes)
            decide()
            if layout == .lines { try drainLines(body) }
        }
    }

    mutating func finish(_ body: (FileItem) throws -> Void) throws {
        if oversize {
            oversize = false
            pending = []
            return try body(.problem(CloudTrailDecodingError(reason: .tooLarge, line: line)))
        }
        guard pending.contains(where: { !Self.isSpace($0) }) else { return }
        try pending.withUnsafeBytes { try body(.document($0, line: line)) }
        pending = []
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !oversize else { return }
        if pending.count + bytes.count > maxDocumentBytes {
            oversize = true
            pending = []
        } else {
            pending.append(contentsOf: bytes)
        }
    }

    /// JSON lines when the first non-blank line, or failing that the second, is a whole JSON value.
    private mutating func decide() {
        if oversize { layout = .whole; return }
        var start = 0
        var candidates = 0
        while candidates < 2, let newline = pending[start...].firstIndex(of: 0x0A) {
            let text = pending[start..<newline]
            start = newline + 1
            guard text.contains(where: { !Self.isSpace($0) }) else { continue }
            if Self.isWholeValue(text) { layout = .lines; return }
            candidates += 1
        }
        if candidates == 2 { layout = .whole }
    }

    private mutating func drainLines(_ body: (FileItem) throws -> Void) throws {
        var start = 0
        var line = self.line
        defer {
            pending.removeSubrange(0..<start)
            self.line = line
        }
        try pending.withUnsafeBytes { all in
            guard let base = all.baseAddress else { return }
            while start < all.count, let hit = memchr(base + start, 0x0A, all.count - start) {
                let newline = base.distance(to: UnsafeRawPointer(hit))
                let text = UnsafeRawBufferPointer(rebasing: all[start..<newline])
                if text.contains(where: { !Self.isSpace($0) }) { try body(.document(text, line: line)) }
                line += 1
                start = newline + 1
            }
        }
        if pending.count - start > maxDocumentBytes {
            start = pending.count
            oversize = true
        }
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    /// Whether `text` is one object or array, balanced, with nothing but whitespace after it.
    static func isWholeValue(_ text: some Collection<UInt8>) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        var closed = false
        for c in text {
            if closed {
                if !isSpace(c) { return false }
                continue
            }
            if inString {
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            switch c {
            case 0x22: inString = true
            case 0x7B, 0x5B: depth += 1
            case 0x7D, 0x5D:
                depth -= 1
                if depth < 0 { return false }
                if depth == 0 { closed = true }
            default:
                if depth == 0, !isSpace(c) { return false }
            }
        }
        return closed
    }
}
