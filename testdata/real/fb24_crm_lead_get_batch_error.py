response = {
    "result": {
        "result": [],
        "result_error": [
            {"error": "", "error_description": "ID is not defined or invalid."}
        ],
        "result_total": [],
        "result_next": [],
        "result_time": [],
    },
    "time": {
        "start": 1653125819.391579,
        "finish": 1653125819.414397,
        "duration": 0.02281808853149414,
        "processing": 0.0016770362854003906,
        "date_start": "2022-05-21T12:36:59+03:00",
        "date_finish": "2022-05-21T12:36:59+03:00",
        "operating": 0,
    },
}
