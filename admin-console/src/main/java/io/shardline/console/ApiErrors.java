package io.shardline.console;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.bind.MissingServletRequestParameterException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.method.annotation.MethodArgumentTypeMismatchException;
import org.springframework.web.util.HtmlUtils;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/** Errors of the API as JSON {@link Views.Error}, with the request id; the reason also goes to the audit log. */
@RestControllerAdvice(assignableTypes = ApiController.class)
final class ApiErrors {
    private static final Logger LOG = LoggerFactory.getLogger(ApiErrors.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @ExceptionHandler(ConsoleException.class)
    ResponseEntity<Views.Error> console(ConsoleException e, HttpServletRequest request) {
        return error(request, e.status(), e.getMessage());
    }

    @ExceptionHandler(HttpMessageNotReadableException.class)
    ResponseEntity<Views.Error> unreadable(HttpMessageNotReadableException e, HttpServletRequest request) {
        Throwable cause = e.getMostSpecificCause();
        String detail = cause instanceof JacksonException j ? j.getOriginalMessage() : cause.getMessage();
        return error(request, HttpStatus.BAD_REQUEST, "the request body is not what this endpoint takes: " + detail);
    }

    @ExceptionHandler({MethodArgumentTypeMismatchException.class, MissingServletRequestParameterException.class})
    ResponseEntity<Views.Error> badParameter(Exception e, HttpServletRequest request) {
        return error(request, HttpStatus.BAD_REQUEST, e.getMessage());
    }

    @ExceptionHandler(RuntimeException.class)
    ResponseEntity<Views.Error> unexpected(RuntimeException e, HttpServletRequest request) {
        LOG.error(
                "request {} {} failed (request id {})",
                request.getMethod(),
                request.getRequestURI(),
                request.getAttribute(AuditFilter.REQUEST_ID),
                e);
        return error(request, HttpStatus.INTERNAL_SERVER_ERROR, e.getMessage());
    }

    private static ResponseEntity<Views.Error> error(HttpServletRequest request, HttpStatus status, String message) {
        request.setAttribute(AuditFilter.OUTCOME, "failed: " + message);
        return ResponseEntity.status(status)
                .body(new Views.Error(status.value(), status.getReasonPhrase(), message, (String)
                        request.getAttribute(AuditFilter.REQUEST_ID)));
    }

    /** Writes an error outside a controller (the security filters): JSON, or a short page for a browser. */
    static void write(HttpServletRequest request, HttpServletResponse response, int status, String message)
            throws IOException {
        HttpStatus s = HttpStatus.valueOf(status);
        response.setStatus(status);
        response.setCharacterEncoding("UTF-8");
        String accept = request.getHeader("Accept");
        boolean page = accept != null
                && accept.contains("text/html")
                && !request.getRequestURI().startsWith("/api/");
        if (page) {
            response.setContentType("text/html;charset=UTF-8");
            response.getWriter()
                    .write("<!doctype html><title>" + status + "</title><h1>" + status + " " + s.getReasonPhrase()
                            + "</h1><p>" + HtmlUtils.htmlEscape(message)
                            + "</p><p><a href=\"/\">Back to the console</a></p>");
            return;
        }
        response.setContentType("application/json");
        response.getWriter()
                .write(JSON.writeValueAsString(new Views.Error(
                        status, s.getReasonPhrase(), message, (String) request.getAttribute(AuditFilter.REQUEST_ID))));
    }
}
