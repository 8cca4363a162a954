const http = require("http");
http.createServer((req, res) => res.end("hello from " + process.arch + "\n")).listen(8080);
