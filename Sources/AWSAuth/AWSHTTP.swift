public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The few HTTP calls credential providers make (STS, the container endpoint, IMDS), on Foundation's
/// `URLSession` (libcurl on Linux): no extra package, and proxies from the environment are not used
/// (instance metadata and container endpoints are link-local; STS is reached directly).
public struct AWSHTTP: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    let session: URLSession

    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.connectionProxyDictionary = [:]
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: configuration)
    }

    /// One request; a transport failure (refused, timed out) throws with `source` named.
    public func send(_ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil,
                     timeout: TimeInterval, source: String) async throws(AWSAuthError) -> Response {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = timeout
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        request.httpBody = body
        do {
            let (data, response) = try await session.data(for: request)
            return Response(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
        } catch {
            throw AWSAuthError(source, "\(method) \(url.scheme ?? "")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "")\(url.path): \(error.localizedDescription)")
        }
    }
}

/// The values of `<tag>…</tag>` in an AWS XML answer (STS): its answers are flat enough that one
/// element's text is found by name, with XML's five entities decoded.
enum XMLText {
    static func value(of tag: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(tag)>"), let end = xml.range(of: "</\(tag)>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
