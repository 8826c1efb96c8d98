import Hummingbird
package import TrustMeshAccess

/// The signed-in person a page is being built for: set for the duration of each page request from
/// the access guard's caller, read by the page frame (name, sign-out) and the forms (CSRF token).
enum PageCaller {
    @TaskLocal static var current: Caller?

    /// Makes the guard's caller the page's.
    struct Middleware: RouterMiddleware {
        typealias Context = AccessContext
        func handle(
            _ request: Request, context: AccessContext, next: (Request, AccessContext) async throws -> Response
        ) async throws -> Response {
            try await PageCaller.$current.withValue(context.identity) { try await next(request, context) }
        }
    }
}
