// Starts Swagger UI on /api/docs/ with the schema address the page names (no inline script: the CSP forbids it).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    // The API is read-only and anonymous: "Try it out" sends plain GETs.
    supportedSubmitMethods: ["get"],
    validatorUrl: null,
  });
})();
