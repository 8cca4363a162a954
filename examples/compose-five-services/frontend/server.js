require("http").createServer((q, s) => s.end("frontend")).listen(8080);
