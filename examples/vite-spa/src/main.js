document.querySelector("#app").textContent = "Hello from a Vite single-page app";
